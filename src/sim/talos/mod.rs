//! Emulated Talos nodes: the Talos API (apid) on port 50000 and the Kubernetes API
//! endpoint on 6443.
