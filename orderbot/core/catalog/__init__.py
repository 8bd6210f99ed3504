"""Master data: products and carriers with their contract clauses, from files, the business config or chat."""
