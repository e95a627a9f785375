//! The local emulator of Hetzner Cloud, the Image Factory and Talos nodes.
