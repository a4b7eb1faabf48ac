//! Counter catalogs of the generator: real 3GPP (TS 28.552) and Ericsson counter
//! names per system, grouped as network elements report them.

/// How a generated counter's values look.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A count of events, up to the given maximum per period.
    Count(u64),
    /// The success counterpart of the counter just before it: never above it.
    SuccessOfPrevious,
    /// A mean or ratio, with two decimals, up to the given maximum.
    Gauge(f64),
    /// A vector (PDF) counter with this many bins, written `a,b,c,…`.
    Vector(usize),
    /// A level between the two bounds (optical powers in dBm), two decimals.
    Level(f64, f64),
}

/// One counter of a group.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    /// Counter name as network elements write it.
    pub name: &'static str,
    /// Value shape.
    pub kind: Kind,
}

/// One measurement group (`measInfo`) of a system.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// `measInfoId` as written in files.
    pub meas_info_id: &'static str,
    /// Measured object class, with `{ne}` and `{i}` placeholders for node and index
    /// (and `{port}`, the index's port when eight objects share one).
    pub object: &'static str,
    /// Objects per node.
    pub objects: usize,
    /// Counters before the software upgrade.
    pub counters: &'static [Counter],
    /// Counters a software upgrade adds (reported by upgraded nodes only).
    pub upgrade_counters: &'static [Counter],
    /// Whether the group is written in list form (`measTypes`/`measResults`).
    pub list_form: bool,
}

const fn c(name: &'static str, kind: Kind) -> Counter {
    Counter { name, kind }
}

use Kind::{Count, Gauge, Level, SuccessOfPrevious as Succ, Vector};

/// LTE eNodeB groups (Ericsson names, as in the real 4G samples).
pub const LTE: &[Group] = &[
    Group {
        meas_info_id: "PM=1,PmGroup=EUtranCellFDD",
        object: "ManagedElement={ne},ENodeBFunction=1,EUtranCellFDD={ne}-{i}",
        objects: 9,
        counters: &[
            c("pmRrcConnEstabAtt", Count(20_000)),
            c("pmRrcConnEstabSucc", Succ),
            c("pmRrcConnEstabFailHighLoad", Count(50)),
            c("pmErabEstabAttInit", Count(20_000)),
            c("pmErabEstabSuccInit", Succ),
            c("pmErabEstabAttAdded", Count(5_000)),
            c("pmErabEstabSuccAdded", Succ),
            c("pmErabRelAbnormalEnbAct", Count(40)),
            c("pmErabRelNormalEnb", Count(15_000)),
            c("pmS1SigConnEstabAtt", Count(20_000)),
            c("pmS1SigConnEstabSucc", Succ),
            c("pmUeCtxtRelAbnormalEnbAct", Count(30)),
            c("pmPdcpVolDlDrb", Count(80_000_000_000)),
            c("pmPdcpVolUlDrb", Count(9_000_000_000)),
            c("pmUeThpTimeDl", Count(900_000)),
            c("pmPrbUsedDlDtch", Count(4_000_000)),
            c("pmPrbAvailDl", Count(4_500_000)),
            c("pmActiveUeDlSum", Count(300_000)),
            c("pmCellDowntimeAuto", Count(900)),
            c("pmCellDowntimeMan", Count(900)),
            c("pmRadioUeRepCqiDistr", Vector(16)),
            c("pmRadioTbsPwrRestricted", Count(10_000)),
        ],
        upgrade_counters: &[c("pmRrcConnEstabAttReatt", Count(500))],
        list_form: false,
    },
    Group {
        meas_info_id: "PM=1,PmGroup=EUtranCellRelation",
        object: "ManagedElement={ne},ENodeBFunction=1,EUtranCellFDD={ne}-1,EUtranFreqRelation=1,EUtranCellRelation={i}",
        objects: 6,
        counters: &[
            c("pmHoPrepAtt", Count(3_000)),
            c("pmHoPrepSucc", Succ),
            c("pmHoExeAtt", Count(3_000)),
            c("pmHoExeSucc", Succ),
        ],
        upgrade_counters: &[],
        list_form: false,
    },
];

/// NR gNodeB groups (TS 28.552 names).
pub const NR: &[Group] = &[
    Group {
        meas_info_id: "NRCellCU",
        object: "ManagedElement={ne},GNBCUCPFunction=1,NRCellCU={i}",
        objects: 12,
        counters: &[
            c("RRC.ConnEstabAtt", Count(30_000)),
            c("RRC.ConnEstabSucc", Succ),
            c("RRC.ReEstabAtt", Count(300)),
            c("RRC.ReEstabSuccWithUeContext", Succ),
            c("RRC.ConnMean", Gauge(400.0)),
            c("RRC.ConnMax", Count(900)),
            c("UECNTX.ConnEstabAtt", Count(30_000)),
            c("UECNTX.ConnEstabSucc", Succ),
            c("DRB.EstabAtt", Count(40_000)),
            c("DRB.EstabSucc", Succ),
            c("DRB.RelActNbr", Count(100)),
            c("MM.HoExeIntraReq", Count(5_000)),
            c("MM.HoExeIntraSucc", Succ),
            c("MM.HoExeInterReq", Count(2_000)),
            c("MM.HoExeInterSucc", Succ),
        ],
        upgrade_counters: &[],
        list_form: false,
    },
    Group {
        meas_info_id: "NRCellDU",
        object: "ManagedElement={ne},GNBDUFunction=1,NRCellDU={i}",
        objects: 12,
        counters: &[
            c("RRU.PrbTotDl", Count(2_000_000)),
            c("RRU.PrbUsedDl", Succ),
            c("RRU.PrbTotUl", Count(2_000_000)),
            c("RRU.PrbUsedUl", Succ),
            c("DRB.UEThpDl", Gauge(900_000.0)),
            c("DRB.UEThpUl", Gauge(150_000.0)),
            c("DRB.AirIfDelayDl", Gauge(20.0)),
            c("TB.TotNbrDl", Count(50_000_000)),
            c("TB.ErrTotalNbrDl", Count(500_000)),
            c("TB.TotNbrUl", Count(20_000_000)),
            c("TB.ErrTotalNbrUl", Count(400_000)),
            c("QosFlow.PdcpPduVolumeDl_Filter", Count(200_000_000_000)),
            c("QosFlow.PdcpPduVolumeUl_Filter", Count(30_000_000_000)),
            c("CARR.WBCQIDist", Vector(16)),
            c("CARR.PDSCHMCSDist", Vector(28)),
        ],
        upgrade_counters: &[c("RRU.MaxLayerDlMimo", Count(8))],
        list_form: false,
    },
];

/// 5G core network-function groups (TS 28.552 names), written in list form.
pub const CORE: &[Group] = &[
    Group {
        meas_info_id: "AMFFunction",
        object: "ManagedElement={ne},AMFFunction=1,SNSSAI=1-00000{i}",
        objects: 4,
        counters: &[
            c("RM.RegInitReq", Count(500_000)),
            c("RM.RegInitSucc", Succ),
            c("RM.RegMobReq", Count(300_000)),
            c("RM.RegMobSucc", Succ),
            c("RM.RegPeriodReq", Count(900_000)),
            c("RM.RegPeriodSucc", Succ),
            c("RM.RegEmergReq", Count(50)),
            c("RM.RegEmergSucc", Succ),
            c("MM.Paging5GReq", Count(800_000)),
            c("MM.Paging5GSucc", Succ),
            c("RM.RegisteredSubNbrMean", Gauge(2_000_000.0)),
            c("RM.RegisteredSubNbrMax", Count(3_000_000)),
        ],
        upgrade_counters: &[c("MM.ConfUpdate", Count(10_000))],
        list_form: true,
    },
    Group {
        meas_info_id: "SMFFunction",
        object: "ManagedElement={ne},SMFFunction=1,SNSSAI=1-00000{i}",
        objects: 4,
        counters: &[
            c("SM.PduSessionCreationReq", Count(700_000)),
            c("SM.PduSessionCreationSucc", Succ),
            c("SM.SessionNbrMean", Gauge(1_500_000.0)),
            c("SM.SessionNbrMax", Count(2_000_000)),
            c("SM.PduSessionTimeMean", Gauge(120.0)),
        ],
        upgrade_counters: &[],
        list_form: true,
    },
    Group {
        meas_info_id: "UPFFunction",
        object: "ManagedElement={ne},UPFFunction=1,N3=1",
        objects: 1,
        counters: &[
            c("GTP.InDataOctN3UPF", Count(90_000_000_000_000)),
            c("GTP.OutDataOctN3UPF", Count(900_000_000_000_000)),
            c("GTP.InDataPktN3UPF", Count(90_000_000_000)),
            c("GTP.OutDataPktN3UPF", Count(900_000_000_000)),
        ],
        upgrade_counters: &[],
        list_form: true,
    },
];

/// GPON OLT groups, as OLT and NMS CSV exports name them: ONT traffic, FEC and BIP
/// error counters and optical levels per ONT, and per-port totals.
pub const ONT: &[Group] = &[
    Group {
        meas_info_id: "gpon_ont",
        object: "{ne}/Frame=0/Slot=1/Port={port}/ONT={i}",
        objects: 32,
        counters: &[
            c("Upstream Octets", Count(9_000_000_000)),
            c("Downstream Octets", Count(40_000_000_000)),
            c("Upstream Packets", Count(9_000_000)),
            c("Downstream Packets", Count(30_000_000)),
            c("FEC Total Codewords", Count(500_000_000)),
            c("FEC Corrected Codewords", Count(20_000)),
            c("FEC Uncorrectable Codewords", Count(50)),
            c("BIP8 Errors", Count(200)),
            c("Rx Optical Power(dBm)", Level(-27.0, -8.0)),
            c("Tx Optical Power(dBm)", Level(0.5, 5.0)),
        ],
        upgrade_counters: &[c("Rx Optical Power Max(dBm)", Level(-27.0, -8.0))],
        list_form: false,
    },
    Group {
        meas_info_id: "gpon_port",
        object: "{ne}/Frame=0/Slot=1/Port={i}",
        objects: 4,
        counters: &[
            c("Upstream Octets", Count(200_000_000_000)),
            c("Downstream Octets", Count(900_000_000_000)),
            c("BIP Errored Blocks", Count(500)),
            c("Online ONTs", Count(64)),
            c("Upstream Bandwidth Usage(%)", Gauge(100.0)),
        ],
        upgrade_counters: &[],
        list_form: false,
    },
];
