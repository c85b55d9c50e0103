PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    session TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit VALUES(1,'2026-12-07T09:01:43.284566+01:00','-','station_started','{"previous":"ready","state":"ready"}','0000000000000000000000000000000000000000000000000000000000000000','1185e16c2d9512a3d840eafde4d41674b0e90eccd6df73969218f2cc68c4fa57');
INSERT INTO audit VALUES(2,'2026-12-07T09:01:46.135748+01:00','715b1ee354dada61','transition','{"dest":"checking_in","reason":"","source":"ready","trigger":"begin"}','1185e16c2d9512a3d840eafde4d41674b0e90eccd6df73969218f2cc68c4fa57','58fdf7febd3f3b2c128bc45eb5cede5aaf6a6fa6371e48ea331b0ee483257ac3');
INSERT INTO audit VALUES(3,'2026-12-07T09:01:47.039640+01:00','715b1ee354dada61','cleaning_mark_set','{}','58fdf7febd3f3b2c128bc45eb5cede5aaf6a6fa6371e48ea331b0ee483257ac3','58ab63f4b2ce645d651903f8708cf14252926d5e5581837c7a44251d49d1d41d');
INSERT INTO audit VALUES(4,'2026-12-07T09:01:47.750424+01:00','715b1ee354dada61','transition','{"dest":"eligibility","reason":"","source":"checking_in","trigger":"admit"}','58ab63f4b2ce645d651903f8708cf14252926d5e5581837c7a44251d49d1d41d','1b3d63435fde61c6011e630d7a019b460d77ed0e0f060714c9fc1f4ffc97c22d');
INSERT INTO audit VALUES(5,'2026-12-07T09:01:48.397886+01:00','715b1ee354dada61','consent_given','{}','1b3d63435fde61c6011e630d7a019b460d77ed0e0f060714c9fc1f4ffc97c22d','59fdf537cf0089b427977b4670de0f227e0d5a541fa1df9fd33521a55c24cdd0');
INSERT INTO audit VALUES(6,'2026-12-07T09:01:48.546397+01:00','715b1ee354dada61','transition','{"dest":"waiting_for_doctor","reason":"","source":"eligibility","trigger":"consented"}','59fdf537cf0089b427977b4670de0f227e0d5a541fa1df9fd33521a55c24cdd0','1fde9bd010c69ec35869c2690586229c9424b0312f53226d69f8e38cd708da94');
INSERT INTO audit VALUES(7,'2026-12-07T09:01:48.993848+01:00','715b1ee354dada61','transition','{"dest":"in_consultation","reason":"","source":"waiting_for_doctor","trigger":"gp_joined"}','1fde9bd010c69ec35869c2690586229c9424b0312f53226d69f8e38cd708da94','a2e57bb0383532358d87754cc9b4beacd9b3243eec0032042b651de2d3a15d91');
INSERT INTO audit VALUES(8,'2026-12-07T09:04:57.732437+01:00','715b1ee354dada61','prescription_printed','{"job":1}','a2e57bb0383532358d87754cc9b4beacd9b3243eec0032042b651de2d3a15d91','e2774557d424a4be4b5fe89b0a769b4276e1d39a939e81e20406cd2abc5f7286');
INSERT INTO audit VALUES(9,'2026-12-07T09:04:57.886852+01:00','715b1ee354dada61','transition','{"dest":"wrapping_up","reason":"gp_ended","source":"in_consultation","trigger":"gp_ended"}','e2774557d424a4be4b5fe89b0a769b4276e1d39a939e81e20406cd2abc5f7286','92ca7fe4d938ae3a77113b7b2a83de545a215efc112774b473f13de9fff16b62');
INSERT INTO audit VALUES(10,'2026-12-07T09:04:58.247522+01:00','715b1ee354dada61','transition','{"dest":"awaiting_cleaning","reason":"patient_left","source":"wrapping_up","trigger":"patient_left"}','92ca7fe4d938ae3a77113b7b2a83de545a215efc112774b473f13de9fff16b62','27cd72a0ce85aec9e98ff9bbc0d916666ce8b1113e690f76d7574b6d4d80b4b8');
CREATE TABLE cabin_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    session TEXT NOT NULL DEFAULT '',
    cleaning_required INTEGER NOT NULL DEFAULT 0,
    mark_session TEXT NOT NULL DEFAULT '',
    mark_set_at TEXT NOT NULL DEFAULT '',
    last_consultation_end TEXT NOT NULL DEFAULT '',
    last_cleaning_at TEXT NOT NULL DEFAULT '',
    last_cleaned_by TEXT NOT NULL DEFAULT '',
    out_of_service_reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);
INSERT INTO cabin_state VALUES(1,'awaiting_cleaning','715b1ee354dada61',1,'715b1ee354dada61','2026-12-07T09:01:47.039640+01:00','2026-12-07T09:04:58.247522+01:00','','','','2026-12-07T09:04:58.247522+01:00');
CREATE TABLE badges (
    hash TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);
INSERT INTO badges VALUES('5ec7a6bedd177d6212f8dd27fe67e810afbdd965a87110a8bbbc40baaf26d3a9','hygiene_referent','Référente hygiène (simulée)','2026-12-07T09:01:44.138062+01:00');
INSERT INTO badges VALUES('12dc6a9933b478fc7c292fd81e6c2d8cdb388ca7e04a9b257e381f1fa6474f60','technician','Technicien (simulé)','2026-12-07T09:01:44.138062+01:00');
CREATE TABLE appointments (
    code TEXT PRIMARY KEY,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    slot_start TEXT NOT NULL,
    slot_minutes INTEGER NOT NULL,
    site TEXT NOT NULL,
    gp TEXT NOT NULL,
    used_at TEXT NOT NULL DEFAULT '',
    used_session TEXT NOT NULL DEFAULT ''
);
INSERT INTO appointments VALUES('596853','','','','2026-12-07T09:06:45.322055+01:00',20,'NAN231','','2026-12-07T09:01:47.039640+01:00','715b1ee354dada61');
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    number TEXT NOT NULL,
    payload BLOB,
    size INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'sending', 'printed', 'failed', 'cancelled', 'uncertain')),
    reason TEXT,
    reprint_of INTEGER REFERENCES print_jobs(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO print_jobs VALUES(1,'715b1ee354dada61','NAN231-20261207-3M3ZB6NK',NULL,1567,'printed',NULL,NULL,'2026-12-07T08:04:56.676650+00:00','2026-12-07T08:04:57.579830+00:00');
CREATE TABLE print_closed_sessions (
    session_id TEXT PRIMARY KEY,
    closed_at TEXT NOT NULL
);
INSERT INTO print_closed_sessions VALUES('715b1ee354dada61','2026-12-07T08:04:58.470099+00:00');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('print_jobs',1);
CREATE INDEX audit_event ON audit (event, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE INDEX print_jobs_session ON print_jobs(session_id, number);
COMMIT;
