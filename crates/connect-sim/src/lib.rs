//! `connect-sim`: a local, in-memory implementation of the Amazon Connect chat service.
//! Status: being built (issue 4).
