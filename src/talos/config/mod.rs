//! Machine configuration: generation per version contract, patches, validation.
