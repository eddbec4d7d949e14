#!/usr/bin/env bash
# Distinct cache lines (code and data) a request touches, per server variant,
# and how many each adds to bare axum serving the same requests; see
# instructions.sh for how they are counted.
MEASURE=cache_lines exec bash "$(dirname "$0")/instructions.sh"
