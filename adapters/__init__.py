"""Everything of stviz that touches the outside world, installed as ``stviz_adapters``:
model families, layouts, receptive fields, BN folding, weight porting, activity
recording, media output and the command line.
"""
