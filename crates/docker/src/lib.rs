//! Docker Engine API client for swab.
