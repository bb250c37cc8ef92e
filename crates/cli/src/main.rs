//! `swab`: the command-line front end. Glue only: parsing flags, calling the library crates,
//! printing results and mapping errors to exit codes.

fn main() {}
