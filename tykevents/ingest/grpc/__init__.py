"""Tyk's coprocess gRPC Dispatcher (docs/tyk-gateway.md): coprocess.proto, the modules protoc
generates from it (`make proto`), and the server that stock gateways send their events to."""
