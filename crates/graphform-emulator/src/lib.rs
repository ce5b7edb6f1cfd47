//! A faithful emulator of the Meta Graph API endpoints graphform uses.
