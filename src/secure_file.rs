//! Writing files that hold secrets: atomically (temp file, fsync, rename) and mode 0600.
