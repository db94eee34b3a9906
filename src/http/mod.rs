//! What both HTTP listeners (the client API and the console) share.

pub mod limits;
