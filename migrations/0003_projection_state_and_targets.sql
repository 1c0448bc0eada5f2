-- Projection state for the status call and the dashboard, and the Digital Decade targets shown as context.

-- What each projector is doing: starting, rebuilding, live, failed (retrying; last_error says why) or stopped.
-- Written by the projector itself, outside its batch transactions, so it is visible while a batch or a rebuild runs.
ALTER TABLE ledger.projections
    ADD COLUMN state      text NOT NULL DEFAULT 'starting',
    ADD COLUMN last_error text;

-- The EU's Digital Decade targets (context for dashboards; the coalitions' events do not cause them).
CREATE TABLE ledger.digital_decade_targets (
    code          text PRIMARY KEY,
    description   text NOT NULL,
    unit          text NOT NULL CHECK (unit IN ('percent', 'people')),
    target_value  numeric,
    target_year   integer NOT NULL,
    latest_value  numeric NOT NULL,
    latest_year   integer NOT NULL,
    earlier_value numeric,
    earlier_year  integer
);
INSERT INTO ledger.digital_decade_targets VALUES
    ('basic_digital_skills', 'People aged 16-74 with at least basic digital skills', 'percent', 80, 2030, 56, 2023, 54, 2021),
    ('ict_specialists', 'ICT specialists employed in the EU', 'people', 20000000, 2030, 9800000, 2023, NULL, NULL),
    ('ict_specialists_women', 'Women among ICT specialists (target: gender convergence)', 'percent', NULL, 2030, 19.4, 2023, NULL, NULL);

CREATE VIEW reporting.digital_decade_targets AS
    SELECT code, description, unit, target_value, target_year, latest_value, latest_year, earlier_value, earlier_year
    FROM ledger.digital_decade_targets;
COMMENT ON VIEW reporting.digital_decade_targets IS 'The EU Digital Decade targets for 2030 with the latest observed values (context, not caused by pledges)';
COMMENT ON COLUMN reporting.digital_decade_targets.code IS 'Stable key of the target';
COMMENT ON COLUMN reporting.digital_decade_targets.description IS 'What is measured';
COMMENT ON COLUMN reporting.digital_decade_targets.unit IS 'percent or people';
COMMENT ON COLUMN reporting.digital_decade_targets.target_value IS 'Value to reach by target_year; NULL for a qualitative target';
COMMENT ON COLUMN reporting.digital_decade_targets.target_year IS 'Year the target is for';
COMMENT ON COLUMN reporting.digital_decade_targets.latest_value IS 'Latest observed value';
COMMENT ON COLUMN reporting.digital_decade_targets.latest_year IS 'Year of latest_value';
COMMENT ON COLUMN reporting.digital_decade_targets.earlier_value IS 'An earlier observation, for the trend; NULL if none';
COMMENT ON COLUMN reporting.digital_decade_targets.earlier_year IS 'Year of earlier_value';
GRANT SELECT ON reporting.digital_decade_targets TO ledger_reporting;
