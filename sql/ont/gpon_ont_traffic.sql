-- Traffic per ONT in Mbit/s averaged over the period: the octet counters over the
-- period's length, for capacity planning per subscriber line.
SELECT system, ne, object, period_start, granularity_s, suspect,
       8.0 * "Downstream Octets" / granularity_s / 1e6 AS downstream_mbps,
       8.0 * "Upstream Octets" / granularity_s / 1e6 AS upstream_mbps
FROM gpon_ont
