"""Pure business logic of the sync: contacts, mapping, matching, opt status, errors. No I/O, no imports of ours."""
