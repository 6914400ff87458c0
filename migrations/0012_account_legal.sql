-- An account's legal data (SPEC §2, since v2): the billing address, the
-- SIREN of a French business and the language of its documents. The
-- address is all or nothing: a document never prints half of one.
ALTER TABLE accounts
    ADD COLUMN address_line1       text CHECK (length(address_line1) BETWEEN 1 AND 200 AND address_line1 !~ '[[:cntrl:]]'),
    ADD COLUMN address_line2       text CHECK (length(address_line2) BETWEEN 1 AND 200 AND address_line2 !~ '[[:cntrl:]]'),
    ADD COLUMN address_postal_code text CHECK (length(address_postal_code) BETWEEN 1 AND 16 AND address_postal_code !~ '[[:cntrl:]]'),
    ADD COLUMN address_city        text CHECK (length(address_city) BETWEEN 1 AND 100 AND address_city !~ '[[:cntrl:]]'),
    ADD COLUMN address_country     text CHECK (address_country ~ '^[A-Z]{2}$'),
    ADD COLUMN siren               text CHECK (siren ~ '^[0-9]{9}$'),
    ADD COLUMN language            text CHECK (language IN ('fr', 'en')),
    ADD CONSTRAINT accounts_address_whole CHECK (
        (address_line1 IS NULL AND address_line2 IS NULL AND address_postal_code IS NULL
         AND address_city IS NULL AND address_country IS NULL)
        OR (address_line1 IS NOT NULL AND address_postal_code IS NOT NULL
            AND address_city IS NOT NULL AND address_country IS NOT NULL));

-- Accounts imported before, and rows written without a language by
-- anything but the import (which always says which): the default language
-- of their country, as billing.DefaultLanguage decides it.
UPDATE accounts SET language = CASE WHEN country = 'FR' THEN 'fr' ELSE 'en' END;
ALTER TABLE accounts ALTER COLUMN language SET NOT NULL;

CREATE FUNCTION accounts_default_language() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.language IS NULL THEN
        NEW.language := CASE WHEN NEW.country = 'FR' THEN 'fr' ELSE 'en' END;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER accounts_default_language BEFORE INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_default_language();

-- An address as the timeline shows it: null without one.
CREATE FUNCTION address_json(line1 text, line2 text, postal_code text, city text, country text)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN line1 IS NULL THEN NULL ELSE jsonb_build_object(
        'line1', line1, 'line2', coalesce(line2, ''), 'postal_code', postal_code, 'city', city, 'country', country) END
$$;
