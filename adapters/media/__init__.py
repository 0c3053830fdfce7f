"""What a user looks at: flow colouring and videos (:mod:`.render`), figure grids
(:mod:`.figures`), the animated manuscript (:mod:`.manuscript`) and the one report
writer that combines them (:mod:`.report`)."""
