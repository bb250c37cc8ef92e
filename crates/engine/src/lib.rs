//! swab's engine: turns a Docker snapshot and a rule set into a plan, and executes plans.
