"""Data files shipped with the package: the tag vocabulary and taggers' label mappings."""
