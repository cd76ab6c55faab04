//! `bridge-relay`: the long-running service that carries agent replies back to phones.
//! Status: not built yet (issue 6).
