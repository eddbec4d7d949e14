#!/usr/bin/env bash
# Distinct lines of code (64 bytes each) a request runs, per server variant,
# and how many each adds to bare axum serving the same requests; see
# instructions.sh for how they are counted.
MEASURE=code_lines exec bash "$(dirname "$0")/instructions.sh"
