//! Unit tests of the JSONata wrapper: templates, `$states`, variables, errors, limits and the
//! Step Functions functions.
