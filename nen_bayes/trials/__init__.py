"""Published trials: the paper card (what a trial published and where its digitised curves are),
the one-command reanalysis of a card, and several trials in one hierarchical model."""
