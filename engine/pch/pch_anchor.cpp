// Anchor TU: the precompiled header is built once here and reused by every torch target.
