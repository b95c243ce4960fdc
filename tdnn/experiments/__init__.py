"""Experiments above the core: the pooling ablation (`ablation`), its tasks and their corpora
(`tasks`, also the phonemes recipe's data layer), the timing probes (`probes`), the result
tables with their statistics (`table`) and plots (`plots`). They import the core and
`data_prep`; nothing in the core imports them."""
