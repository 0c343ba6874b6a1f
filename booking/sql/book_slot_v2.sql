-- booking_book_slot_v2: one booking, its whole decision and all its writes, in one call.
--
-- Loaded by migration booking/0019_book_function_v2; booking/services/booking_sql/ calls it.
-- A later change is a new file (book_slot_v3.sql) with a new migration, never an edit of this
-- one: the migration must make the same function whenever it runs.
--
-- What v2 adds to v1 (booking/sql/book_slot_v1.sql, kept for processes not yet updated): the
-- texts may be left out (p_texts NULL) by a caller that read the slot full or closed, since
-- making them is most of what a refusal would cost it. Should the place be free after all (a
-- cancellation in between), the answer is {"outcome": "texts"} before anything is written, and
-- the caller makes them and calls again.
--
-- It states the same rules, in the same order, as booking.services.appointments._book_locked
-- and the checks it calls (services.safeguards, services.places, services.series,
-- booking.eligibility, notifications.services.outbox); tests/booking/test_booking_engines.py
-- runs every rule and race against both. What Python prepares before the call (the
-- appointment's id from a block taken from its sequence, the texts in both languages with
-- their due times, the audit event's fields, the clock) comes in as parameters; what can
-- change between two bookings is read here, under the patient's row lock.
--
-- The answer is a jsonb object:
--   {"outcome": "booked", "appointment_id", "series_id", "dose_number", "visit_mode",
--    "slot": {the slot's row after the place was taken}, "wake": a text is due now}
--   {"outcome": "replay", "appointment_id"}     the same idempotency key booked this before
--   {"outcome": "orm"}                          a course of several doses: Python books it
--   {"outcome": "texts"}                        p_texts was NULL and the place is free:
--                                               nothing was written; call again with them
--   {"outcome": "refused", "code", ...detail}   nothing was written
CREATE OR REPLACE FUNCTION booking_book_slot_v2(
    p_appointment_id bigint,     -- taken by Python from booking_appointment's sequence
    p_patient_id bigint,
    p_slot_id bigint,
    p_booked_by_id integer,
    p_channel text,              -- web, api or staff
    p_idempotency_key text,      -- '' for none
    p_replay_service_id bigint,  -- allocate: an earlier booking with the key must be of this
                                 -- service; NULL (book): of this slot
    p_partner_id bigint,
    p_enforce_cutoff boolean,
    p_now timestamptz,           -- Python's clock: the same moment the texts were timed from
    p_time_zone text,            -- settings.TIME_ZONE: the day a drive's age rules look at
    p_max_active integer,        -- settings.MAX_ACTIVE_BOOKINGS_PER_PATIENT (0: no cap)
    p_visit_mode text,           -- the service's visit mode the texts were written for
    p_audit jsonb,               -- the audit event's fields, as clinics.audit.record fills them
    p_texts jsonb                -- {"th": [rows], "en": [rows], "opted_out_error": text},
                                 -- or NULL: not made (the caller read the slot full)
) RETURNS jsonb
LANGUAGE plpgsql
AS $function$
DECLARE
    v_patient booking_patient%ROWTYPE;
    v_earlier record;
    v_slot booking_slot%ROWTYPE;
    v_service clinics_service%ROWTYPE;
    v_centre_active boolean;
    v_drive booking_vaccinationdrive%ROWTYPE;
    v_series_id bigint;
    v_series_doses integer;
    v_doses integer;
    v_dose_number smallint;
    v_day date;
    v_months integer;
    v_groups text[];
    v_failing text[] := '{}';
    v_found bigint;
    v_held integer;
    v_phone text;
    v_language text;
    v_holder record;
    v_opted_out boolean;
    v_rows jsonb;
    v_wake boolean := false;
    v_actor_kind text;
    v_taken booking_slot%ROWTYPE;
    v_constraint text;
    v_closed boolean;
BEGIN
    -- 1. The patient's row, locked (only that row): one person's bookings run one at a time,
    --    which makes the key, overlap, cap and course checks below safe. A retry with the
    --    same key waits here for the first attempt and then finds what it booked.
    SELECT * INTO v_patient FROM booking_patient WHERE id = p_patient_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'booking_book_slot_v2: no patient %', p_patient_id;
    END IF;

    -- 2. The idempotency key: the same request again answers with what it made; the key used
    --    for another person, slot (book) or service (allocate) is refused.
    IF p_idempotency_key <> '' THEN
        SELECT a.id, a.patient_id, a.slot_id, s.service_id INTO v_earlier
          FROM booking_appointment a JOIN booking_slot s ON s.id = a.slot_id
         WHERE a.booked_by_id = p_booked_by_id AND a.idempotency_key = p_idempotency_key
         LIMIT 1;
        IF FOUND THEN
            IF v_earlier.patient_id <> p_patient_id
               OR (p_replay_service_id IS NULL AND v_earlier.slot_id <> p_slot_id)
               OR (p_replay_service_id IS NOT NULL AND v_earlier.service_id <> p_replay_service_id)
            THEN
                RETURN jsonb_build_object('outcome', 'refused', 'code', 'idempotency_key_reused');
            END IF;
            RETURN jsonb_build_object('outcome', 'replay', 'appointment_id', v_earlier.id);
        END IF;
    END IF;

    -- 3. Safeguards (services.safeguards.check_may_book): a phone staff stopped books only at
    --    the desk; nobody books for someone whose erasure is under way.
    IF p_channel <> 'staff' AND EXISTS (
        SELECT 1 FROM booking_bookingblock
         WHERE account_id = v_patient.account_id AND lifted_at IS NULL
    ) THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'booking_blocked');
    END IF;
    IF EXISTS (
        SELECT 1 FROM booking_deletionrequest WHERE patient_id = p_patient_id AND status = 'pending'
    ) THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'deletion_pending');
    END IF;

    -- 4. The slot (services.places.bookable_slot): one not yet open is as if it did not exist;
    --    its service and centre must still be active and the centre must still offer the
    --    service (a change the next sync has not yet closed the slot for).
    SELECT * INTO v_slot FROM booking_slot WHERE id = p_slot_id;
    IF NOT FOUND OR (v_slot.opens_at IS NOT NULL AND v_slot.opens_at > p_now) THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'slot_not_found');
    END IF;
    SELECT * INTO v_service FROM clinics_service WHERE id = v_slot.service_id;
    SELECT is_active INTO v_centre_active FROM clinics_healthcentre WHERE number = v_slot.centre_id;
    IF NOT (v_service.is_active AND v_centre_active AND EXISTS (
        SELECT 1 FROM clinics_healthcentre_services
         WHERE healthcentre_id = v_slot.centre_id AND service_id = v_slot.service_id
    )) THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'slot_closed', 'slot_id', p_slot_id);
    END IF;

    -- 5. Online booking closes the service's cutoff before the start (staff may book later).
    IF p_enforce_cutoff
       AND p_now > v_slot.start - make_interval(mins => v_service.booking_cutoff_minutes) THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'booking_closed',
                                  'cutoff_minutes', v_service.booking_cutoff_minutes);
    END IF;

    -- The texts were written for the service's visit mode as this process keeps it; should it
    -- have changed since, the ORM path books with everything read afresh.
    IF v_service.visit_mode <> p_visit_mode THEN
        RETURN jsonb_build_object('outcome', 'orm');
    END IF;

    -- 6. Which dose (services.series.plan_dose). A vaccine of one dose is booked here: its
    --    course is the active one if a cancelled booking left it, else a new one written
    --    below. A course of several doses (the next dose's interval, holding the later doses)
    --    is left to the ORM path, told by the answer "orm"; nothing has been written yet.
    IF v_service.kind = 'vaccination' THEN
        SELECT id, doses_in_series INTO v_series_id, v_series_doses
          FROM booking_vaccinationseries
         WHERE patient_id = p_patient_id AND service_id = v_service.id AND status = 'active'
         LIMIT 1;
        IF FOUND THEN
            IF v_series_doses > 1 THEN
                RETURN jsonb_build_object('outcome', 'orm');
            END IF;
            IF v_series_doses < 1 OR EXISTS (
                SELECT 1 FROM booking_appointment
                 WHERE series_id = v_series_id AND dose_number = 1
                   AND status IN ('booked', 'checked_in', 'in_consultation', 'completed')
            ) THEN
                RETURN jsonb_build_object('outcome', 'refused', 'code', 'course_already_booked');
            END IF;
        ELSE
            SELECT coalesce(max(number), 1) INTO v_doses
              FROM clinics_servicedose WHERE service_id = v_service.id;
            IF v_doses > 1 THEN
                RETURN jsonb_build_object('outcome', 'orm');
            END IF;
        END IF;
        v_dose_number := 1;
    END IF;

    -- 7. A drive's rules (booking.eligibility.ineligibilities), on the slot's local day:
    --    every rule that fails is named, in the same order; Python words them.
    IF v_slot.drive_id IS NOT NULL THEN
        SELECT * INTO v_drive FROM booking_vaccinationdrive WHERE id = v_slot.drive_id;
        v_day := (v_slot.start AT TIME ZONE p_time_zone)::date;
        -- age_in_months: whole months, a birthday on the 31st counting at the month's end.
        v_months := (extract(year FROM v_day)::integer - extract(year FROM v_patient.date_of_birth)::integer) * 12
                    + extract(month FROM v_day)::integer - extract(month FROM v_patient.date_of_birth)::integer
                    - CASE WHEN extract(day FROM v_day) < extract(day FROM v_patient.date_of_birth)
                           THEN 1 ELSE 0 END;
        IF v_drive.min_age_months IS NOT NULL AND v_months < v_drive.min_age_months THEN
            v_failing := v_failing || 'too_young'::text;
        END IF;
        IF v_drive.max_age_months IS NOT NULL AND v_months >= v_drive.max_age_months THEN
            v_failing := v_failing || 'too_old'::text;
        END IF;
        IF jsonb_array_length(v_drive.sexes) > 0 AND NOT (v_drive.sexes ? v_patient.sex) THEN
            v_failing := v_failing || 'sex'::text;
        END IF;
        IF jsonb_array_length(v_drive.risk_groups) > 0 THEN
            -- risk_groups_on: the declared groups, less the two set by age, plus those that
            -- follow from the age on the day (65 or over; 6 months to 2 years).
            SELECT coalesce(array_agg(g), '{}') INTO v_groups
              FROM jsonb_array_elements_text(v_patient.risk_groups) AS g
             WHERE g NOT IN ('aged_65_plus', 'young_child');
            IF v_months >= 65 * 12 THEN
                v_groups := v_groups || 'aged_65_plus'::text;
            END IF;
            IF v_months >= 6 AND v_months < 24 THEN
                v_groups := v_groups || 'young_child'::text;
            END IF;
            IF NOT EXISTS (
                SELECT 1 FROM jsonb_array_elements_text(v_drive.risk_groups) AS g
                 WHERE g = ANY (v_groups)
            ) THEN
                v_failing := v_failing || 'risk_group'::text;
            END IF;
        END IF;
        IF EXISTS (SELECT 1 FROM booking_vaccinationdrive_districts
                    WHERE vaccinationdrive_id = v_drive.id)
           AND NOT EXISTS (SELECT 1 FROM booking_vaccinationdrive_districts
                            WHERE vaccinationdrive_id = v_drive.id
                              AND district_id = v_patient.district_id) THEN
            v_failing := v_failing || 'district'::text;
        END IF;
        IF cardinality(v_failing) > 0 THEN
            RETURN jsonb_build_object('outcome', 'refused', 'code', 'not_eligible',
                                      'reasons', to_jsonb(v_failing));
        END IF;
    END IF;

    -- 8. One place per person per slot (any appointment in it not cancelled, even one already
    --    seen), then no other upcoming appointment at an overlapping time (places.check_no_overlap).
    SELECT id INTO v_found FROM booking_appointment
     WHERE patient_id = p_patient_id AND slot_id = p_slot_id AND status <> 'cancelled'
     ORDER BY id LIMIT 1;
    IF FOUND THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'already_booked',
                                  'appointment_id', v_found);
    END IF;
    SELECT a.id INTO v_found FROM booking_appointment a JOIN booking_slot s ON s.id = a.slot_id
     WHERE a.patient_id = p_patient_id
       AND a.status IN ('booked', 'checked_in', 'in_consultation')
       AND s.start < v_slot."end" AND s."end" > v_slot.start
     ORDER BY a.id LIMIT 1;
    IF FOUND THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'overlapping_appointment',
                                  'appointment_id', v_found);
    END IF;

    -- 9. The cap on upcoming appointments one person holds (places.check_active_bookings_cap);
    --    later doses of a course do not count.
    IF p_max_active > 0 THEN
        SELECT count(*) INTO v_held FROM booking_appointment a JOIN booking_slot s ON s.id = a.slot_id
         WHERE a.patient_id = p_patient_id AND a.status IN ('booked', 'checked_in')
           AND s."end" > p_now AND (a.dose_number IS NULL OR a.dose_number <= 1);
        IF v_held >= p_max_active THEN
            RETURN jsonb_build_object('outcome', 'refused', 'code', 'too_many_active_bookings',
                                      'limit', p_max_active);
        END IF;
    END IF;

    -- 10. Closed or full as read: spare the writes when the place is already gone. (The
    --     conditional update below decides; this only saves work.)
    IF v_slot.closed THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'slot_closed', 'slot_id', p_slot_id);
    END IF;
    IF v_slot.booked >= v_slot.capacity THEN
        RETURN jsonb_build_object('outcome', 'refused', 'code', 'slot_full', 'slot_id', p_slot_id);
    END IF;
    -- The caller read the slot full and left the texts out, but there is a place: it makes
    -- them and calls again (nothing has been written).
    IF p_texts IS NULL THEN
        RETURN jsonb_build_object('outcome', 'texts');
    END IF;

    -- 11. Who gets the texts (outbox.recipient_for): the account holder's own phone; for
    --     someone in their care, that person's phone once proven with a passcode (or the
    --     holder's own number written on them), else the holder's, in the holder's language.
    IF v_patient.relationship = 'self' THEN
        IF v_patient.phone <> '' THEN
            v_phone := v_patient.phone;
            v_language := v_patient.preferred_language;
        END IF;
    ELSIF v_patient.phone <> '' AND v_patient.phone_verified_at IS NOT NULL THEN
        v_phone := v_patient.phone;
        v_language := v_patient.preferred_language;
    ELSE
        SELECT phone, preferred_language INTO v_holder FROM booking_patient
         WHERE account_id = v_patient.account_id AND relationship = 'self' AND phone <> ''
         ORDER BY id LIMIT 1;
        IF FOUND THEN
            IF v_patient.phone = v_holder.phone THEN
                v_phone := v_patient.phone;
                v_language := v_patient.preferred_language;
            ELSE
                v_phone := v_holder.phone;
                v_language := v_holder.preferred_language;
            END IF;
        END IF;
    END IF;

    -- The audit event's actor: Python knows it, except whether a signed-in account that is
    -- not an admin user is on a centre's staff (clinics.audit.is_staff_account), asked here.
    v_actor_kind := nullif(p_audit->>'actor_kind', '');
    IF v_actor_kind IS NULL THEN
        v_actor_kind := CASE WHEN EXISTS (
            SELECT 1 FROM clinics_staffmembership WHERE user_id = (p_audit->>'actor_id')::integer
        ) THEN 'staff' ELSE 'patient' END;
    END IF;

    -- 12. The writes, in a block of their own: should the conditional update find no place
    --     (someone took the last one since step 10), the block's exception undoes the course,
    --     the appointment, the audit event and the texts, and the answer says why. The place
    --     is taken last: everyone booking the slot queues on its row lock until commit, so the
    --     less done while holding it, the more bookings a busy slot takes a second.
    BEGIN
        IF v_dose_number IS NOT NULL AND v_series_id IS NULL THEN
            -- services.series.start_course, for a vaccine of one dose.
            INSERT INTO booking_vaccinationseries
                (doses_in_series, status, created_at, completed_at, centre_id, patient_id, service_id)
            VALUES (v_doses, 'active', p_now, NULL, v_slot.centre_id, p_patient_id, v_service.id)
            RETURNING id INTO v_series_id;
        END IF;

        -- The appointment, with the id Python took (its link is in the texts). A key reused
        -- by a booking for someone else committing at the same moment fails the unique
        -- constraint idempotency_key_used_once: answered idempotency_key_reused, as the ORM
        -- path answers its IntegrityError.
        INSERT INTO booking_appointment
            (id, status, visit_mode, channel, idempotency_key, sequence, cancellation_reason,
             created_at, updated_at, checked_in_at, completed_at, cancelled_at, booked_by_id,
             patient_id, slot_id, confirmed_at, dose_number, series_id, lot_id, partner_id)
        VALUES
            (p_appointment_id, 'booked', v_service.visit_mode, p_channel, p_idempotency_key, 0, '',
             p_now, p_now, NULL, NULL, NULL, p_booked_by_id,
             p_patient_id, p_slot_id, NULL, v_dose_number, v_series_id, NULL, p_partner_id);

        -- The audit event (booking.services.audit.appointment_changed "booked").
        INSERT INTO clinics_auditevent
            (at, actor_kind, actor_name, action, target_type, target_id, patients, details,
             address, via, actor_id, centre_id, link_patient_id)
        VALUES
            ((p_audit->>'at')::timestamptz, v_actor_kind, p_audit->>'actor_name',
             p_audit->>'action', p_audit->>'target_type', p_appointment_id, p_audit->'patients',
             p_audit->'details', (p_audit->>'address')::inet, p_audit->>'via',
             (p_audit->>'actor_id')::integer, v_slot.centre_id,
             (p_audit->>'link_patient_id')::bigint);

        -- The texts (outbox.notify_booked): the rows in the recipient's language, in order
        -- (confirmation, reminders, video link); one to a number that opted out is written as
        -- failed, so staff see what was not sent and why (outbox.outbox_row).
        IF v_phone IS NOT NULL THEN
            v_opted_out := EXISTS (SELECT 1 FROM notifications_optout WHERE phone = v_phone);
            v_rows := coalesce(p_texts->v_language, p_texts->'th', '[]'::jsonb);
            INSERT INTO notifications_message
                (recipient, language, kind, body, encoding, segments, due_at, expires_at, status,
                 provider_id, attempts, error_code, last_error, claimed_at, sent_at,
                 delivered_at, reminder_minutes, created_at, appointment_id, patient_id)
            SELECT v_phone, v_language, r->>'kind', r->>'body', r->>'encoding',
                   (r->>'segments')::smallint, (r->>'due_at')::timestamptz,
                   (r->>'expires_at')::timestamptz,
                   CASE WHEN r->>'status' = 'pending' AND v_opted_out THEN 'failed'
                        ELSE r->>'status' END,
                   '', 0,
                   CASE WHEN r->>'status' = 'pending' AND v_opted_out THEN 'opted_out' ELSE '' END,
                   CASE WHEN r->>'status' = 'pending' AND v_opted_out
                        THEN p_texts->>'opted_out_error' ELSE r->>'last_error' END,
                   NULL, NULL, NULL, (r->>'reminder_minutes')::integer, p_now,
                   p_appointment_id, p_patient_id
              FROM jsonb_array_elements(v_rows) WITH ORDINALITY AS t(r, n)
             ORDER BY n;
            -- outbox._wake_if_due: a pending text due within 5 s wakes a worker on commit.
            SELECT coalesce(bool_or(r->>'status' = 'pending'
                                    AND (r->>'due_at')::timestamptz <= p_now + interval '5 seconds'),
                            false) AND NOT v_opted_out
              INTO v_wake
              FROM jsonb_array_elements(v_rows) AS r;
        END IF;

        -- 13. The place, last: one conditional update, which the CHECK constraint
        --     slot_never_booked_past_capacity guards too (services.places.take_place).
        UPDATE booking_slot SET booked = booked + 1
         WHERE id = p_slot_id AND NOT closed AND booked < capacity
        RETURNING * INTO v_taken;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'BMA01', MESSAGE = 'no place left';
        END IF;
    EXCEPTION
        WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint = 'idempotency_key_used_once' THEN
                RETURN jsonb_build_object('outcome', 'refused', 'code', 'idempotency_key_reused');
            END IF;
            RAISE;
        WHEN SQLSTATE 'BMA01' THEN
            SELECT closed INTO v_closed FROM booking_slot WHERE id = p_slot_id;
            RETURN jsonb_build_object('outcome', 'refused',
                                      'code', CASE WHEN v_closed IS NOT FALSE THEN 'slot_closed'
                                                   ELSE 'slot_full' END,
                                      'slot_id', p_slot_id);
    END;

    RETURN jsonb_build_object(
        'outcome', 'booked',
        'appointment_id', p_appointment_id,
        'series_id', v_series_id,
        'dose_number', v_dose_number,
        'visit_mode', v_service.visit_mode,
        'wake', v_wake,
        'slot', to_jsonb(v_taken)
    );
END;
$function$;
