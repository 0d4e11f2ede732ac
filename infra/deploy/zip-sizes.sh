#!/usr/bin/env bash
# Prints the size of each function's Lambda zip (built by `make package`) and the total.
# Usage: zip-sizes.sh <function>...
set -euo pipefail
cd "$(dirname "$0")/../.."
total=0
printf '%-22s %10s %12s\n' function "zip (KiB)" "bootstrap (KiB)"
for function in "$@"; do
    zip="target/lambda/$function/bootstrap.zip"
    [[ -f $zip ]] || { echo "missing $zip: run make package" >&2; exit 1; }
    zipped=$(stat -c %s "$zip")
    unzipped=$(python3 -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
    total=$(( total + zipped ))
    printf '%-22s %10d %12d\n' "$function" $(( zipped / 1024 )) $(( unzipped / 1024 ))
done
printf '%-22s %10d\n' total $(( total / 1024 ))
