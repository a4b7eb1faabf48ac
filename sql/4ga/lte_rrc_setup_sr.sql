-- LTE RRC connection setup success rate and initial E-RAB setup success rate (%),
-- per cell and period, from Ericsson EUtranCellFDD counters. Periods with no
-- attempts give NULL, not a division error.
SELECT system, ne, object, period_start, granularity_s, suspect,
       100.0 * pmRrcConnEstabSucc / NULLIF(pmRrcConnEstabAtt, 0) AS rrc_setup_sr_pct,
       100.0 * pmErabEstabSuccInit / NULLIF(pmErabEstabAttInit, 0) AS erab_setup_sr_pct
FROM eutrancellfdd
