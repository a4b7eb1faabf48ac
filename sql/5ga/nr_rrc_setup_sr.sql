-- NR RRC connection establishment success rate (%), TS 28.552 counters of NRCellCU.
SELECT system, ne, object, period_start, granularity_s, suspect,
       100.0 * "RRC.ConnEstabSucc" / NULLIF("RRC.ConnEstabAtt", 0) AS rrc_setup_sr_pct
FROM nrcellcu
