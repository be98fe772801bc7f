"""Export stage: surfaces and sequences as files that open in standard tools."""
