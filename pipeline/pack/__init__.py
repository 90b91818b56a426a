"""Packing: plain bytes -> zstd -> age -> BLAKE3 of the stored bytes, streamed with bounded buffers."""
