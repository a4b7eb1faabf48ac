-- NR downlink PRB utilisation (%), TS 28.552 RRU counters of NRCellDU. A filter rule
-- too: suspect rows and cells that reported no PRBs at all are left out.
SELECT system, ne, object, period_start, granularity_s,
       100.0 * "RRU.PrbUsedDl" / "RRU.PrbTotDl" AS dl_prb_util_pct
FROM nrcelldu
WHERE NOT suspect AND "RRU.PrbTotDl" > 0
