--
-- PostgreSQL database dump
--

\restrict TLdhgDSMaHseqtWd8kawD7vD3QzBdbbg0HGFbRBTHBRqPvWl9mCZJIc5ntYscbk

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: zingy_nb; Type: SCHEMA; Schema: -; Owner: team_admin
--

CREATE SCHEMA zingy_nb;


ALTER SCHEMA zingy_nb OWNER TO team_admin;

--
-- Name: audit_prune(interval, integer); Type: FUNCTION; Schema: zingy_nb; Owner: zingy_nb_definer
--

CREATE FUNCTION zingy_nb.audit_prune(max_age interval, max_entries integer) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    DELETE FROM zingy_nb.audit WHERE last < now() - max_age;
    DELETE FROM zingy_nb.audit WHERE id NOT IN
        (SELECT id FROM zingy_nb.audit ORDER BY last DESC LIMIT max_entries);
$$;


ALTER FUNCTION zingy_nb.audit_prune(max_age interval, max_entries integer) OWNER TO zingy_nb_definer;

--
-- Name: bump_changes(); Type: FUNCTION; Schema: zingy_nb; Owner: zingy_nb_definer
--

CREATE FUNCTION zingy_nb.bump_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    UPDATE zingy_nb.changes SET counter = counter + 1, last_txid = txid_current()
        WHERE id = 1 AND last_txid IS DISTINCT FROM txid_current();
    IF FOUND THEN
        PERFORM pg_notify('zingy_nb_changed', '');
    END IF;
    RETURN NULL;
END
$$;


ALTER FUNCTION zingy_nb.bump_changes() OWNER TO zingy_nb_definer;

--
-- Name: level(bigint, name); Type: FUNCTION; Schema: zingy_nb; Owner: zingy_nb_definer
--

CREATE FUNCTION zingy_nb.level(pid bigint, who name) RETURNS integer
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    profile_owner name;
BEGIN
    IF NOT pg_has_role(session_user, who, 'MEMBER') THEN
        RETURN 0;
    END IF;
    SELECT p.owner INTO profile_owner FROM zingy_nb.profiles p WHERE p.id = pid;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF zingy_nb.role_in(who, profile_owner) OR zingy_nb.role_in(who, 'zingy_nb_admin') THEN
        RETURN 3;
    END IF;
    RETURN coalesce((SELECT max(g.level) FROM zingy_nb.grants g
                     WHERE g.profile_id = pid AND zingy_nb.role_in(who, g.grantee)), 0);
END
$$;


ALTER FUNCTION zingy_nb.level(pid bigint, who name) OWNER TO zingy_nb_definer;

--
-- Name: level_by_name(text, name); Type: FUNCTION; Schema: zingy_nb; Owner: zingy_nb_definer
--

CREATE FUNCTION zingy_nb.level_by_name(pname text, who name) RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT coalesce((SELECT zingy_nb.level(p.id, who) FROM zingy_nb.profiles p
                     WHERE p.name = pname), 0)
$$;


ALTER FUNCTION zingy_nb.level_by_name(pname text, who name) OWNER TO zingy_nb_definer;

--
-- Name: role_in(name, name); Type: FUNCTION; Schema: zingy_nb; Owner: team_admin
--

CREATE FUNCTION zingy_nb.role_in(who name, target name) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT EXISTS (SELECT 1 FROM pg_roles r
                   WHERE r.rolname = target AND pg_has_role(who, r.oid, 'MEMBER'))
$$;


ALTER FUNCTION zingy_nb.role_in(who name, target name) OWNER TO team_admin;

--
-- Name: rows_not_under(text); Type: FUNCTION; Schema: zingy_nb; Owner: zingy_nb_definer
--

CREATE FUNCTION zingy_nb.rows_not_under(key_id text) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT count(*) FROM zingy_nb.profiles p WHERE p.key_id <> rows_not_under.key_id
$$;


ALTER FUNCTION zingy_nb.rows_not_under(key_id text) OWNER TO zingy_nb_definer;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.audit (
    id bigint NOT NULL,
    profile text NOT NULL,
    flow text NOT NULL,
    outcome text NOT NULL,
    process text NOT NULL,
    role name DEFAULT CURRENT_USER NOT NULL,
    kernel_id text,
    notebook text,
    first timestamp with time zone NOT NULL,
    last timestamp with time zone NOT NULL,
    count bigint NOT NULL,
    via text
);

ALTER TABLE ONLY zingy_nb.audit FORCE ROW LEVEL SECURITY;


ALTER TABLE zingy_nb.audit OWNER TO team_admin;

--
-- Name: audit_id_seq; Type: SEQUENCE; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE zingy_nb.audit ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME zingy_nb.audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: changes; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.changes (
    id integer NOT NULL,
    counter bigint NOT NULL,
    last_txid bigint,
    CONSTRAINT changes_id_check CHECK ((id = 1))
);


ALTER TABLE zingy_nb.changes OWNER TO team_admin;

--
-- Name: grants; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.grants (
    profile_id bigint NOT NULL,
    grantee name NOT NULL,
    level smallint NOT NULL,
    granted_by name DEFAULT CURRENT_USER NOT NULL,
    granted timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT grants_level_check CHECK (((level >= 1) AND (level <= 3)))
);

ALTER TABLE ONLY zingy_nb.grants FORCE ROW LEVEL SECURITY;


ALTER TABLE zingy_nb.grants OWNER TO team_admin;

--
-- Name: notebook_access; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.notebook_access (
    profile_id bigint NOT NULL,
    role name DEFAULT CURRENT_USER NOT NULL,
    notebook text NOT NULL,
    how text NOT NULL,
    created timestamp with time zone DEFAULT now() NOT NULL,
    moved_from text,
    moved timestamp with time zone
);

ALTER TABLE ONLY zingy_nb.notebook_access FORCE ROW LEVEL SECURITY;


ALTER TABLE zingy_nb.notebook_access OWNER TO team_admin;

--
-- Name: profiles; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.profiles (
    id bigint NOT NULL,
    name text NOT NULL,
    owner name DEFAULT CURRENT_USER NOT NULL,
    slots integer NOT NULL,
    created timestamp with time zone NOT NULL,
    updated timestamp with time zone NOT NULL,
    key_id text NOT NULL,
    blob bytea NOT NULL
);

ALTER TABLE ONLY zingy_nb.profiles FORCE ROW LEVEL SECURITY;


ALTER TABLE zingy_nb.profiles OWNER TO team_admin;

--
-- Name: profiles_id_seq; Type: SEQUENCE; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE zingy_nb.profiles ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME zingy_nb.profiles_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: schema_version; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.schema_version (
    version integer NOT NULL
);


ALTER TABLE zingy_nb.schema_version OWNER TO team_admin;

--
-- Name: settings; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.settings (
    key text NOT NULL,
    value text NOT NULL
);


ALTER TABLE zingy_nb.settings OWNER TO team_admin;

--
-- Name: store_meta; Type: TABLE; Schema: zingy_nb; Owner: team_admin
--

CREATE TABLE zingy_nb.store_meta (
    key text NOT NULL,
    value bytea NOT NULL
);


ALTER TABLE zingy_nb.store_meta OWNER TO team_admin;

--
-- Data for Name: audit; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.audit (id, profile, flow, outcome, process, role, kernel_id, notebook, first, last, count, via) FROM stdin;
1	stripe	cloud-flow	retrieved	vm:29305:1795942980	alice	\N	\N	2026-11-29 09:03:02.118454+00	2026-11-29 09:03:02.118454+00	1	\N
\.


--
-- Data for Name: changes; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.changes (id, counter, last_txid) FROM stdin;
1	6	743
\.


--
-- Data for Name: grants; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.grants (profile_id, grantee, level, granted_by, granted) FROM stdin;
1	bob	1	alice	2026-11-29 09:03:02.08178+00
2	carol	2	alice	2026-11-29 09:03:02.085427+00
\.


--
-- Data for Name: notebook_access; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.notebook_access (profile_id, role, notebook, how, created, moved_from, moved) FROM stdin;
\.


--
-- Data for Name: profiles; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.profiles (id, name, owner, slots, created, updated, key_id, blob) FROM stdin;
1	stripe	alice	3	2026-11-29 09:03:02.077333+00	2026-11-29 09:03:02.077341+00	804214a8f11ad563	\\x04bf20c57a1d9b02a035282e0f33a272cf60213da4cbbc27b4aeabe7d4efe22f3d1da321243d25f5d6bd1aefe1e2b82291920aee9bff4c7e732c7a61748dfd93ef46365b05bb9ad23753eb0ecb5a9e941f221b337e868b411f718de2f8b75ddfb91ded37ed4465069eafdbfe929fdc22e5acdfab0c
2	aws	alice	9	2026-11-29 09:03:02.080506+00	2026-11-29 09:03:02.080515+00	804214a8f11ad563	\\x9fb9e0f04a2746388a2cb16890249459972879c26c9bf2e465d86e47944a20d4aa730a0d28f0bfc8cbc1b5aa5f72e373926d912aa172878305a38d716b52d3ea2943221b7806c36dbd5f1d5cb1865d098a90abad56e7078f4f26aa641e3ba7f65ef154
3	github	carol	1	2026-11-29 09:03:02.105281+00	2026-11-29 09:03:02.10529+00	804214a8f11ad563	\\xf94fc3834d487d9bb57fbf6a04ba61965f5ee6fa43b37da27a9b2e8169036099336fbee1fd14c54822dd3efd4a2021275cd7613cb151c480a656cd7820ad840f8bf6f14479d3b7f941e8d3caf8c5d94bc41daea68e2943be3c06
\.


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.schema_version (version) FROM stdin;
2
\.


--
-- Data for Name: settings; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.settings (key, value) FROM stdin;
\.


--
-- Data for Name: store_meta; Type: TABLE DATA; Schema: zingy_nb; Owner: team_admin
--

COPY zingy_nb.store_meta (key, value) FROM stdin;
store_id	\\x6564623062633633666436393463356462323232393665343863343561323937
key_id	\\x38303432313461386631316164353633
verifier	\\x4887105ea9744101415cbbad6515352ad3bd70de85cbf2fa310e8498aa4871fb178607fb19fb6e746fdae519ee84e6368e516599c504b9cb
\.


--
-- Name: audit_id_seq; Type: SEQUENCE SET; Schema: zingy_nb; Owner: team_admin
--

SELECT pg_catalog.setval('zingy_nb.audit_id_seq', 1, true);


--
-- Name: profiles_id_seq; Type: SEQUENCE SET; Schema: zingy_nb; Owner: team_admin
--

SELECT pg_catalog.setval('zingy_nb.profiles_id_seq', 3, true);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (id);


--
-- Name: audit audit_profile_flow_outcome_process_role_key; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.audit
    ADD CONSTRAINT audit_profile_flow_outcome_process_role_key UNIQUE (profile, flow, outcome, process, role);


--
-- Name: changes changes_pkey; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.changes
    ADD CONSTRAINT changes_pkey PRIMARY KEY (id);


--
-- Name: grants grants_pkey; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.grants
    ADD CONSTRAINT grants_pkey PRIMARY KEY (profile_id, grantee);


--
-- Name: notebook_access notebook_access_pkey; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.notebook_access
    ADD CONSTRAINT notebook_access_pkey PRIMARY KEY (profile_id, role, notebook);


--
-- Name: profiles profiles_name_key; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.profiles
    ADD CONSTRAINT profiles_name_key UNIQUE (name);


--
-- Name: profiles profiles_pkey; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.profiles
    ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);


--
-- Name: store_meta store_meta_pkey; Type: CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.store_meta
    ADD CONSTRAINT store_meta_pkey PRIMARY KEY (key);


--
-- Name: audit_last; Type: INDEX; Schema: zingy_nb; Owner: team_admin
--

CREATE INDEX audit_last ON zingy_nb.audit USING btree (last);


--
-- Name: notebook_access_notebook; Type: INDEX; Schema: zingy_nb; Owner: team_admin
--

CREATE INDEX notebook_access_notebook ON zingy_nb.notebook_access USING btree (role, notebook);


--
-- Name: grants bump_changes; Type: TRIGGER; Schema: zingy_nb; Owner: team_admin
--

CREATE TRIGGER bump_changes AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON zingy_nb.grants FOR EACH STATEMENT EXECUTE FUNCTION zingy_nb.bump_changes();


--
-- Name: notebook_access bump_changes; Type: TRIGGER; Schema: zingy_nb; Owner: team_admin
--

CREATE TRIGGER bump_changes AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON zingy_nb.notebook_access FOR EACH STATEMENT EXECUTE FUNCTION zingy_nb.bump_changes();


--
-- Name: profiles bump_changes; Type: TRIGGER; Schema: zingy_nb; Owner: team_admin
--

CREATE TRIGGER bump_changes AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON zingy_nb.profiles FOR EACH STATEMENT EXECUTE FUNCTION zingy_nb.bump_changes();


--
-- Name: settings bump_changes; Type: TRIGGER; Schema: zingy_nb; Owner: team_admin
--

CREATE TRIGGER bump_changes AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON zingy_nb.settings FOR EACH STATEMENT EXECUTE FUNCTION zingy_nb.bump_changes();


--
-- Name: store_meta bump_changes; Type: TRIGGER; Schema: zingy_nb; Owner: team_admin
--

CREATE TRIGGER bump_changes AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON zingy_nb.store_meta FOR EACH STATEMENT EXECUTE FUNCTION zingy_nb.bump_changes();


--
-- Name: grants grants_profile_id_fkey; Type: FK CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.grants
    ADD CONSTRAINT grants_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES zingy_nb.profiles(id) ON DELETE CASCADE;


--
-- Name: notebook_access notebook_access_profile_id_fkey; Type: FK CONSTRAINT; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE ONLY zingy_nb.notebook_access
    ADD CONSTRAINT notebook_access_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES zingy_nb.profiles(id) ON DELETE CASCADE;


--
-- Name: audit; Type: ROW SECURITY; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE zingy_nb.audit ENABLE ROW LEVEL SECURITY;

--
-- Name: audit definer_prunes; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY definer_prunes ON zingy_nb.audit TO zingy_nb_definer USING (true);


--
-- Name: grants definer_reads; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY definer_reads ON zingy_nb.grants FOR SELECT TO zingy_nb_definer USING (true);


--
-- Name: profiles definer_reads; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY definer_reads ON zingy_nb.profiles FOR SELECT TO zingy_nb_definer USING (true);


--
-- Name: grants; Type: ROW SECURITY; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE zingy_nb.grants ENABLE ROW LEVEL SECURITY;

--
-- Name: notebook_access member_allows; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_allows ON zingy_nb.notebook_access FOR INSERT TO zingy_nb_member WITH CHECK (((role = CURRENT_USER) AND (zingy_nb.level(profile_id, CURRENT_USER) >= 1)));


--
-- Name: profiles member_creates; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_creates ON zingy_nb.profiles FOR INSERT TO zingy_nb_member WITH CHECK ((owner = CURRENT_USER));


--
-- Name: profiles member_deletes; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_deletes ON zingy_nb.profiles FOR DELETE TO zingy_nb_member USING ((zingy_nb.level(id, CURRENT_USER) >= 2));


--
-- Name: notebook_access member_disallows; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_disallows ON zingy_nb.notebook_access FOR DELETE TO zingy_nb_member USING (((role = CURRENT_USER) OR (zingy_nb.level(profile_id, CURRENT_USER) >= 3)));


--
-- Name: grants member_grants; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_grants ON zingy_nb.grants FOR INSERT TO zingy_nb_member WITH CHECK ((zingy_nb.level(profile_id, CURRENT_USER) >= 3));


--
-- Name: audit member_merges; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_merges ON zingy_nb.audit FOR UPDATE TO zingy_nb_member USING ((role = CURRENT_USER)) WITH CHECK ((role = CURRENT_USER));


--
-- Name: notebook_access member_moves; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_moves ON zingy_nb.notebook_access FOR UPDATE TO zingy_nb_member USING ((role = CURRENT_USER)) WITH CHECK ((role = CURRENT_USER));


--
-- Name: audit member_reads; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_reads ON zingy_nb.audit FOR SELECT TO zingy_nb_member USING (((role = CURRENT_USER) OR (zingy_nb.level_by_name(profile, CURRENT_USER) >= 1)));


--
-- Name: grants member_reads; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_reads ON zingy_nb.grants FOR SELECT TO zingy_nb_member USING ((zingy_nb.role_in(CURRENT_USER, grantee) OR (zingy_nb.level(profile_id, CURRENT_USER) >= 3)));


--
-- Name: notebook_access member_reads; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_reads ON zingy_nb.notebook_access FOR SELECT TO zingy_nb_member USING (((role = CURRENT_USER) OR (zingy_nb.level(profile_id, CURRENT_USER) >= 3)));


--
-- Name: profiles member_reads; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_reads ON zingy_nb.profiles FOR SELECT TO zingy_nb_member USING ((zingy_nb.level(id, CURRENT_USER) >= 1));


--
-- Name: audit member_records; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_records ON zingy_nb.audit FOR INSERT TO zingy_nb_member WITH CHECK ((role = CURRENT_USER));


--
-- Name: grants member_regrants; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_regrants ON zingy_nb.grants FOR UPDATE TO zingy_nb_member USING ((zingy_nb.level(profile_id, CURRENT_USER) >= 3)) WITH CHECK ((zingy_nb.level(profile_id, CURRENT_USER) >= 3));


--
-- Name: grants member_revokes; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_revokes ON zingy_nb.grants FOR DELETE TO zingy_nb_member USING ((zingy_nb.level(profile_id, CURRENT_USER) >= 3));


--
-- Name: profiles member_writes; Type: POLICY; Schema: zingy_nb; Owner: team_admin
--

CREATE POLICY member_writes ON zingy_nb.profiles FOR UPDATE TO zingy_nb_member USING ((zingy_nb.level(id, CURRENT_USER) >= 2)) WITH CHECK ((zingy_nb.level(id, CURRENT_USER) >= 2));


--
-- Name: notebook_access; Type: ROW SECURITY; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE zingy_nb.notebook_access ENABLE ROW LEVEL SECURITY;

--
-- Name: profiles; Type: ROW SECURITY; Schema: zingy_nb; Owner: team_admin
--

ALTER TABLE zingy_nb.profiles ENABLE ROW LEVEL SECURITY;

--
-- Name: SCHEMA zingy_nb; Type: ACL; Schema: -; Owner: team_admin
--

GRANT USAGE ON SCHEMA zingy_nb TO zingy_nb_member;
GRANT ALL ON SCHEMA zingy_nb TO zingy_nb_definer;


--
-- Name: FUNCTION audit_prune(max_age interval, max_entries integer); Type: ACL; Schema: zingy_nb; Owner: zingy_nb_definer
--

REVOKE ALL ON FUNCTION zingy_nb.audit_prune(max_age interval, max_entries integer) FROM PUBLIC;
GRANT ALL ON FUNCTION zingy_nb.audit_prune(max_age interval, max_entries integer) TO zingy_nb_member;


--
-- Name: FUNCTION bump_changes(); Type: ACL; Schema: zingy_nb; Owner: zingy_nb_definer
--

REVOKE ALL ON FUNCTION zingy_nb.bump_changes() FROM PUBLIC;


--
-- Name: FUNCTION level(pid bigint, who name); Type: ACL; Schema: zingy_nb; Owner: zingy_nb_definer
--

REVOKE ALL ON FUNCTION zingy_nb.level(pid bigint, who name) FROM PUBLIC;
GRANT ALL ON FUNCTION zingy_nb.level(pid bigint, who name) TO zingy_nb_member;


--
-- Name: FUNCTION level_by_name(pname text, who name); Type: ACL; Schema: zingy_nb; Owner: zingy_nb_definer
--

REVOKE ALL ON FUNCTION zingy_nb.level_by_name(pname text, who name) FROM PUBLIC;
GRANT ALL ON FUNCTION zingy_nb.level_by_name(pname text, who name) TO zingy_nb_member;


--
-- Name: FUNCTION role_in(who name, target name); Type: ACL; Schema: zingy_nb; Owner: team_admin
--

REVOKE ALL ON FUNCTION zingy_nb.role_in(who name, target name) FROM PUBLIC;
GRANT ALL ON FUNCTION zingy_nb.role_in(who name, target name) TO zingy_nb_member;
GRANT ALL ON FUNCTION zingy_nb.role_in(who name, target name) TO zingy_nb_definer;


--
-- Name: FUNCTION rows_not_under(key_id text); Type: ACL; Schema: zingy_nb; Owner: zingy_nb_definer
--

REVOKE ALL ON FUNCTION zingy_nb.rows_not_under(key_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION zingy_nb.rows_not_under(key_id text) TO zingy_nb_member;


--
-- Name: TABLE audit; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT ON TABLE zingy_nb.audit TO zingy_nb_member;
GRANT SELECT,DELETE ON TABLE zingy_nb.audit TO zingy_nb_definer;


--
-- Name: COLUMN audit.profile; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(profile) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.flow; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(flow) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.outcome; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(outcome) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.process; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(process) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.kernel_id; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(kernel_id) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.notebook; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(notebook) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.first; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(first) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.last; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(last),UPDATE(last) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.count; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(count),UPDATE(count) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: COLUMN audit.via; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(via) ON TABLE zingy_nb.audit TO zingy_nb_member;


--
-- Name: TABLE changes; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT,UPDATE ON TABLE zingy_nb.changes TO zingy_nb_member;
GRANT SELECT,UPDATE ON TABLE zingy_nb.changes TO zingy_nb_definer;


--
-- Name: TABLE grants; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT,DELETE ON TABLE zingy_nb.grants TO zingy_nb_member;
GRANT SELECT ON TABLE zingy_nb.grants TO zingy_nb_definer;


--
-- Name: COLUMN grants.profile_id; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(profile_id) ON TABLE zingy_nb.grants TO zingy_nb_member;


--
-- Name: COLUMN grants.grantee; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(grantee) ON TABLE zingy_nb.grants TO zingy_nb_member;


--
-- Name: COLUMN grants.level; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(level),UPDATE(level) ON TABLE zingy_nb.grants TO zingy_nb_member;


--
-- Name: COLUMN grants.granted_by; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT UPDATE(granted_by) ON TABLE zingy_nb.grants TO zingy_nb_member;


--
-- Name: COLUMN grants.granted; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT UPDATE(granted) ON TABLE zingy_nb.grants TO zingy_nb_member;


--
-- Name: TABLE notebook_access; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT,DELETE ON TABLE zingy_nb.notebook_access TO zingy_nb_member;


--
-- Name: COLUMN notebook_access.profile_id; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(profile_id) ON TABLE zingy_nb.notebook_access TO zingy_nb_member;


--
-- Name: COLUMN notebook_access.notebook; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(notebook),UPDATE(notebook) ON TABLE zingy_nb.notebook_access TO zingy_nb_member;


--
-- Name: COLUMN notebook_access.how; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(how) ON TABLE zingy_nb.notebook_access TO zingy_nb_member;


--
-- Name: COLUMN notebook_access.moved_from; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT UPDATE(moved_from) ON TABLE zingy_nb.notebook_access TO zingy_nb_member;


--
-- Name: COLUMN notebook_access.moved; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT UPDATE(moved) ON TABLE zingy_nb.notebook_access TO zingy_nb_member;


--
-- Name: TABLE profiles; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT,DELETE ON TABLE zingy_nb.profiles TO zingy_nb_member;
GRANT SELECT ON TABLE zingy_nb.profiles TO zingy_nb_definer;


--
-- Name: COLUMN profiles.name; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(name),UPDATE(name) ON TABLE zingy_nb.profiles TO zingy_nb_member;


--
-- Name: COLUMN profiles.slots; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(slots),UPDATE(slots) ON TABLE zingy_nb.profiles TO zingy_nb_member;


--
-- Name: COLUMN profiles.created; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(created),UPDATE(created) ON TABLE zingy_nb.profiles TO zingy_nb_member;


--
-- Name: COLUMN profiles.updated; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(updated),UPDATE(updated) ON TABLE zingy_nb.profiles TO zingy_nb_member;


--
-- Name: COLUMN profiles.key_id; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(key_id),UPDATE(key_id) ON TABLE zingy_nb.profiles TO zingy_nb_member;


--
-- Name: COLUMN profiles.blob; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT INSERT(blob),UPDATE(blob) ON TABLE zingy_nb.profiles TO zingy_nb_member;


--
-- Name: TABLE schema_version; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT ON TABLE zingy_nb.schema_version TO zingy_nb_member;


--
-- Name: TABLE settings; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT ON TABLE zingy_nb.settings TO zingy_nb_member;
GRANT INSERT,UPDATE ON TABLE zingy_nb.settings TO zingy_nb_admin;


--
-- Name: TABLE store_meta; Type: ACL; Schema: zingy_nb; Owner: team_admin
--

GRANT SELECT,INSERT ON TABLE zingy_nb.store_meta TO zingy_nb_member;
GRANT UPDATE ON TABLE zingy_nb.store_meta TO zingy_nb_admin;


--
-- PostgreSQL database dump complete
--

\unrestrict TLdhgDSMaHseqtWd8kawD7vD3QzBdbbg0HGFbRBTHBRqPvWl9mCZJIc5ntYscbk

