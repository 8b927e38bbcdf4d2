//! SearchImage: `/v1/search` where a registry has it, else `/v2/_catalog` filtered by the term.
