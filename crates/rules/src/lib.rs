//! swab's rule language. Pure: turns YAML text into validated, typed rules.
