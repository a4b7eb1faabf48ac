-- GPON upstream FEC health per ONT: the share of codewords the OLT had to correct and
-- the share it could not (pre- and post-FEC error ratios, in parts per million). A
-- rising pre-FEC ratio warns of a degrading fibre before subscribers notice; any
-- post-FEC errors are already lost data. Suspect rows are left out.
SELECT system, ne, object, period_start, granularity_s,
       1e6 * "FEC Corrected Codewords" / "FEC Total Codewords" AS pre_fec_ppm,
       1e6 * "FEC Uncorrectable Codewords" / "FEC Total Codewords" AS post_fec_ppm,
       "BIP8 Errors" AS bip8_errors,
       "Rx Optical Power(dBm)" AS rx_power_dbm
FROM gpon_ont
WHERE NOT suspect AND "FEC Total Codewords" > 0
