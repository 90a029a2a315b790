//! Rule-by-rule tests of the parser and validator, and a property test that no input panics.
