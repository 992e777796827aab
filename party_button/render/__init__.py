"""The render job: outline people in a music video with Mask R-CNN and write a party clip.

Only this package imports torch, torchvision and PyAV; they come with the ``render`` extra
(``pip install 'party-button[render]'``). :mod:`party_button.cli.render` imports none of
them, so the main command line can offer ``render`` without the extra installed.
"""
