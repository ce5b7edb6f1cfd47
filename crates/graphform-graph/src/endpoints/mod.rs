//! The endpoints graphform uses, as methods of
//! [`GraphClient`](crate::GraphClient), with their request and response
//! types: one module per object.

pub(crate) mod apps;
pub(crate) mod debug_token;
pub(crate) mod system_users;
pub(crate) mod tokens;
