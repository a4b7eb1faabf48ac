#!/usr/bin/env bash
# The embedded default, end to end: stage the sample files of datasets/ into a local
# inbox (copies: datasets/ is never changed), ingest each system into the Parquet
# archive under demo/, and print a query over it. Re-runnable: files are named by
# content hash in the archive, so a second run leaves the same rows.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/build-deps.sh
cargo build --quiet --bin pmflow
pmflow="$CARGO_TARGET_DIR/debug/pmflow"

for system in 4ga 5ga 5gc ont; do
  inbox="demo/inbox/$system"
  mkdir -p "$inbox"
  cp datasets/"$system"/* "$inbox"/
  echo "== ingest $system"
  "$pmflow" ingest --plan "plans/$system.toml"
done

echo "== columns and rows per table in demo/archive"
"$pmflow" query --archive demo/archive \
  "SELECT table_name, count(*) AS columns FROM information_schema.columns
   WHERE table_schema = 'public' AND table_name IN ('nrcelldu', 'eutrancellfdd', 'amffunction')
   GROUP BY table_name ORDER BY table_name"
"$pmflow" query --archive demo/archive \
  "SELECT 'nrcelldu' AS table_name, system, count(*) AS rows FROM nrcelldu GROUP BY system
   UNION ALL SELECT 'eutrancellfdd', system, count(*) FROM eutrancellfdd GROUP BY system
   UNION ALL SELECT 'amffunction', system, count(*) FROM amffunction GROUP BY system
   ORDER BY table_name, system"
echo "== GPON pre-FEC error ratio per OLT (rule sql/ont/gpon_ont_fec_ber.sql, from CSV exports)"
"$pmflow" query --archive demo/archive \
  "SELECT ne, period_start, round(avg(pre_fec_ppm), 1) AS pre_fec_ppm, round(min(rx_power_dbm), 2) AS worst_rx_dbm
   FROM gpon_ont_fec_ber GROUP BY ne, period_start ORDER BY ne, period_start"
echo "== NR RRC setup success rate per node (rule sql/5ga/nr_rrc_setup_sr.sql)"
"$pmflow" query --archive demo/archive \
  "SELECT ne, period_start, round(avg(rrc_setup_sr_pct), 2) AS rrc_setup_sr_pct
   FROM nr_rrc_setup_sr GROUP BY ne, period_start ORDER BY ne, period_start"
