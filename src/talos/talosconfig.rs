//! talosconfig, the Talos client configuration, and the admin client certificate.
