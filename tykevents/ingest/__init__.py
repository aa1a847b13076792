"""Stage 1: bytes in. Transports only frame bytes and hand them to the Pipeline."""
