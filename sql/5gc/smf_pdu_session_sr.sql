-- 5GC PDU session establishment success rate (%) per SMF slice, TS 28.552 SM counters.
SELECT system, ne, object, period_start, granularity_s, suspect,
       100.0 * "SM.PduSessionCreationSucc" / NULLIF("SM.PduSessionCreationReq", 0) AS pdu_session_sr_pct
FROM smffunction
