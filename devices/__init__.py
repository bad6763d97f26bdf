"""Everything the scanner talks to, emulated: film printers, burners, serial camera status,
and the embedded RIS and PACS."""
