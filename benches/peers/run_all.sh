#!/bin/sh
# Runs every peer row back to back (Rust side, then the Python peer), with the
# load average before each, into target/peers/session.log. Build first with
# `cargo bench --no-run --bench peers --bench kde_peers`.
set -u
cd "$(dirname "$0")/../.."
mkdir -p target/peers
log=target/peers/session.log
row() {
    name=$1; shift
    echo "=== $name: $(date -u +%FT%TZ), $(uptime)" >> "$log"
    "$@" >> "$log" 2>&1
}
echo "=== session $(date -u +%FT%TZ) on $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores" >> "$log"
for r in ${PEERS_ROWS:-limits em kde_cv kde net flows gp}; do
    case $r in
    kde)
        row "kde (darkprobe)" cargo bench --bench kde_peers
        row "kde (peer)" python3 benches/peers/kde_peer.py ;;
    *)
        row "$r (darkprobe)" cargo bench --bench peers -- "$r"
        row "$r (peer)" python3 "benches/peers/${r}_peer.py" ;;
    esac
done
echo "=== end $(date -u +%FT%TZ)" >> "$log"
