# Shared by the reference scripts here: mclust, where to write, number formatting, the
# models and the data sets. Each script finds this file beside itself (see its first lines).

suppressPackageStartupMessages(library(mclust))

script_dir <- function() {
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg) == 1) return(dirname(normalizePath(sub("^--file=", "", file_arg))))
  file.path(getwd(), "tests", "reference", "mclust")
}

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.10g", x))

MODELS <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
            "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")
DATA <- list(faithful = as.matrix(datasets::faithful),
             iris = as.matrix(datasets::iris[, 1:4]))

# Bind a list of data frames and write them as one CSV beside the script.
write_out <- function(rows, file) {
  path <- file.path(script_dir(), file)
  write.csv(do.call(rbind, rows), path, row.names = FALSE, quote = FALSE)
  cat("wrote", path, "\n")
}
