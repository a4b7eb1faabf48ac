-- 5GC initial registration success rate (%) per AMF slice, TS 28.552 RM counters.
SELECT system, ne, object, period_start, granularity_s, suspect,
       100.0 * "RM.RegInitSucc" / NULLIF("RM.RegInitReq", 0) AS reg_init_sr_pct
FROM amffunction
