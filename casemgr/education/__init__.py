"""Education: the program's module catalogue and what each episode has been taught."""
