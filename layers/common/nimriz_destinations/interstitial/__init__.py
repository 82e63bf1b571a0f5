"""Ad Pixel Interstitial: the `interstitial_settings` schema, link resolution for the redirect edge, signed page
tokens and the interstitial page itself (docs/interstitial.md)."""
