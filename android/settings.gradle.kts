// For Android Studio users. Not run in this repository's CI (no Android
// Gradle Plugin or SDK there): the JVM build is app/pom.xml, run by
// scripts/test-android.sh. See README.md.
pluginManagement { repositories { google(); mavenCentral(); gradlePluginPortal() } }
dependencyResolutionManagement { repositories { google(); mavenCentral() } }
rootProject.name = "wayfare-android"
include(":app")
