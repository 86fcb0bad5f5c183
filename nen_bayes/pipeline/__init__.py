"""The main job: typed settings checked before any fit (:mod:`.settings`), one function per
step (:mod:`.steps`), the summary (:mod:`.summary`), one function per report section
(:mod:`.sections`) rendered as self-contained HTML (:mod:`.html`), the orchestration
(:mod:`.reanalysis`), and the options shared by the commands (:mod:`.cli`).

The top layer: it may import every other layer, plotting included.
"""
